"""TextFromTrack: self-hostable audio-to-text service."""

__version__ = "0.1.0"
