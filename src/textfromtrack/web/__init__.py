"""The web app: server-rendered pages, their JSON endpoints under /api/web, and security."""
