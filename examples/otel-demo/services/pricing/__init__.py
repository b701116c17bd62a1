"""pricing (container ``go-service``, ``go-gin-service``): Starlette on uvicorn, port 8080."""
