"""arkitekt beside Dask distributed, Celery and a raw websocket echo (`poe bench-peers`)."""
