"""Declared request and response models of the JSON API, one module per resource as the
routes are (server/api/routes_<resource>.py); they also make the OpenAPI document."""
