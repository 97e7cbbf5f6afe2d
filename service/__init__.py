"""Service edge: schemas, CLI, Flask application, persistence."""
