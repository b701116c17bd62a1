"""orders (container ``python-service``, ``python-fastapi-service``): FastAPI on uvicorn, port 8000."""
