# neuron-refinery: `make demo` sets everything up and runs the main job; `make test` runs the tests.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
# torch goes in first, in whichever build the index serves: on Linux x86_64 PyPI serves the CUDA
# build (about 2.7 GB with its nvidia-* and triton wheels; it runs on a CPU too, and uses a GPU when
# there is one), on macOS the Apple-silicon build (about 110 MB, with MPS). For the CPU-only build
# (about 190 MB), point pip at PyTorch's CPU index:
#   make demo TORCH_INDEX=--index-url=https://download.pytorch.org/whl/cpu
# (or .../whl/cu126 and the like for a CUDA build that matches an older driver).
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
STAMP := $(VENV)/.installed

.PHONY: install assets browser demo test lint local clean-venv

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH_INDEX) "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	@$(BIN)/python -c "import torch; print('torch', torch.__version__, '| CUDA build' if torch.version.cuda else '| CPU build', '| GPUs:', torch.cuda.device_count(), '| MPS:', torch.backends.mps.is_available())"
	touch $(STAMP)

install: $(STAMP)

assets: install
	$(BIN)/refinery setup

demo: assets
	$(BIN)/refinery demo

# Debian's chromium for the report's browser test (Playwright drives it; its own browser download
# does not work offline). If it cannot be installed, make goes on and that test fails, never skips.
browser:
	@test -x /usr/bin/chromium || (export DEBIAN_FRONTEND=noninteractive; apt-get install -y -q chromium \
		|| (apt-get update -q && apt-get install -y -q chromium)) \
		|| echo "warning: could not install Debian's chromium; the browser test will fail" >&2

# Lint (ruff + strict mypy) runs first: `make test` is what .ci/run calls, so CI checks the types too.
# --durations lists the slowest tests in every CI log: the suite must stay near 25 minutes on 2 cores.
# The local LLM is installed too, and its tests (marker local_llm, on SmolLM2-135M-Instruct) run.
test: lint assets browser local
	REFINERY_REQUIRE_ASSETS=1 $(BIN)/python -m pytest -q --durations=15 -m 'not hub and not faults_slow'

# The local LLM (`--backend local`, `refinery serve-local`, the `local_llm` tests): llama-cpp-python,
# which has no binary wheel, so pip compiles llama.cpp (about 10 min on 2 cores). The wheel is built
# once and kept under the cache directory, keyed by its version and build flags, so that later
# installs (a fresh clone, CI) take seconds. LLAVA_BUILD=OFF skips the multimodal part and halves the
# build. GGML_NATIVE=OFF builds for AVX2 instead of -march=native: the native build uses AMX tile
# instructions on these Xeons, which die with SIGILL in this VM, and a native build breaks on any
# other CPU. --no-cache-dir: pip's wheel cache ignores CMAKE_ARGS, so it could hand back a wheel built
# with other flags.
LLAMA_VERSION := 0.3.36
LLAMA_CMAKE_ARGS := -DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF
CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/neuron-refinery
LLAMA_WHEELS := $(CACHE_DIR)/wheels/llama-cpp-python-$(LLAMA_VERSION)-$(shell printf '%s' "$(LLAMA_CMAKE_ARGS) $$(uname -m)" | sha256sum | cut -c1-12)
LOCAL_STAMP := $(VENV)/.installed-local

$(LOCAL_STAMP): $(STAMP)
	@if ! ls $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1; then \
		echo "building llama-cpp-python $(LLAMA_VERSION) once into $(LLAMA_WHEELS) (about 10 min on 2 cores)"; \
		rm -rf $(LLAMA_WHEELS).tmp && \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip wheel --quiet --no-deps --no-cache-dir -w $(LLAMA_WHEELS).tmp \
			"llama-cpp-python==$(LLAMA_VERSION)" && mv $(LLAMA_WHEELS).tmp $(LLAMA_WHEELS); \
	fi
	$(BIN)/pip install --quiet --find-links $(LLAMA_WHEELS) -c constraints.txt -e '.[local]'
	touch $(LOCAL_STAMP)

local: $(LOCAL_STAMP)

# mypy in strict mode (it reads llama_cpp's types, hence the local extra first) ([tool.mypy] in pyproject.toml) on the application's layers; it follows their
# imports into prompts/. Its cache (.mypy_cache) makes a re-run take seconds instead of a minute or two.
lint: local
	$(BIN)/ruff check agent graphs tools prompts tests bench
	$(BIN)/mypy agent graphs tools

clean-venv:
	rm -rf $(VENV)
