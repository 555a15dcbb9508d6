"""OpenAI's audio API on this service: ``/v1/audio/transcriptions``, ``/translations``
and ``/v1/models``, so OpenAI SDKs and the tools built on them work unchanged."""
