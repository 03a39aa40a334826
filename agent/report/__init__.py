"""The HTML report: pure rendering of the view models (`render`), writing it to disk (`bundle`), serving it live (`server`)."""
