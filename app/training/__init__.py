"""Training the bundled model: LoRA with peft on the CPU, the adapter written as a GGUF for llama.cpp.

Pure technical code: no database, no domain. `app.training.worker` runs a job in a process of its own and
reports on stdout, one JSON object a line."""
