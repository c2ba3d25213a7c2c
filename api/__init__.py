"""The HTTP API: thin FastAPI routers over `recsys.service` (built by `api.app.create_app`)."""
