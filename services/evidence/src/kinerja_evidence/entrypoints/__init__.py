"""HTTP API and event handlers: thin, they translate and call the service layer."""
