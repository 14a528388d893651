"""TF Serving's REST protocol, pure (no I/O): request JSON -> a decoded request for one signature
call, model outputs -> response JSON, and the `{"error": ...}` shape of every refusal."""
