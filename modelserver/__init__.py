"""`browserplane model`: a local GGUF model served over the OpenAI API on loopback (llama.cpp)."""
