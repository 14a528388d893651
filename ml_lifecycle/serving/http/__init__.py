"""The HTTP side: TF Serving's routes (`api.ServingApi`) and the admin routes (`admin.AdminApi`),
both transport-free; the ASGI adapter and the uvicorn listeners that carry them (`asgi`,
`limits`, `listener`); one server process (`server.ModelServer`, built from config by `build`);
several worker processes on one port (`workers`). No model code here."""
