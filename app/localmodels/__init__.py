"""The bundled-model server: an OpenAI-compatible ASGI app over llama.cpp, mounted at /local or standalone."""
