"""The report's renderer: `page.render_report` turns ReportData into one HTML page, built from
`elements` and one module per chart family (drift, data, models, concept)."""
