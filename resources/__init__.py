"""Icons, sample schemas and other files shipped with Eventdesk."""
