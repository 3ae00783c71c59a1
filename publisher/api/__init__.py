"""The HTTP API for the main app: FastAPI routes over ``publisher.core.service``."""
