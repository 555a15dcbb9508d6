"""Python client for the TextFromTrack API v1."""
