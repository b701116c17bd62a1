"""inventory (container ``nodejs-service``, ``nodejs-express-service``): Flask on a threaded WSGI server, port 3000."""
