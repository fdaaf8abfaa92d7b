# FlowPool: `make demo` runs the main job, `make test` runs every test.
# Both install what is missing first (Debian packages via apt-get, only when absent).

SWIFT ?= swift
BUILD_FLAGS ?=

.PHONY: all deps build test demo lint format docs bench fuzz fuzz-smoke clean

all: build

deps:
	@./scripts/ensure-deps.sh

build: deps
	$(SWIFT) build $(BUILD_FLAGS)

# One module's suites at a time: the multi-process pool tests then have the machine's cores to themselves.
TEST_MODULES ?= FlowCoreTests ZeroMQTests FlowAgentsTests FlowPoolTests

test: deps
	@./scripts/ensure-deps.sh --test
	$(SWIFT) build --build-tests $(BUILD_FLAGS)
	@set -e; for module in $(TEST_MODULES); do \
		echo "== $$module"; \
		$(SWIFT) test --skip-build $(BUILD_FLAGS) --filter "^$$module\\."; \
	done

demo: deps
	$(SWIFT) build $(BUILD_FLAGS) --product flowpool
	$$($(SWIFT) build $(BUILD_FLAGS) --show-bin-path)/flowpool demo

lint:
	$(SWIFT) format lint --strict --recursive --parallel Package.swift Sources Tests bench/Sources Fuzz/Package.swift Fuzz/Sources examples

format:
	$(SWIFT) format format --in-place --recursive --parallel Package.swift Sources Tests bench/Sources Fuzz/Package.swift Fuzz/Sources examples

# Reference documentation (DocC, swift-docc-plugin) of FlowCore, FlowPool and FlowPoolWorker, as one combined
# archive in DOCS_DIR; any DocC warning (an unresolved symbol link, say) fails it. A static file server shows it:
# `python3 -m http.server -d .build/docs`, then /documentation/flowcore/.
DOCS_DIR ?= .build/docs
DOCS_TARGETS ?= FlowCore FlowPool FlowPoolWorker

docs: deps
	$(SWIFT) package --allow-writing-to-directory $(DOCS_DIR) generate-documentation \
		$(addprefix --target ,$(DOCS_TARGETS)) --enable-experimental-combined-documentation \
		--output-path $(DOCS_DIR) --warnings-as-errors

bench: deps
	$(SWIFT) build -c release --product flowpool-bench
	$$($(SWIFT) build -c release --show-bin-path)/flowpool-bench

# libFuzzer on every decoder of peer bytes and on the coordinator's state machine (Fuzz/), built in .build-fuzz.
# `fuzz` runs each target for FUZZ_RUNS inputs from its seeds in Fuzz/Corpus; `fuzz-smoke` briefly, for CI.
FUZZ_RUNS ?= 1000000
FUZZ_SMOKE_RUNS ?= 20000

fuzz: deps
	SWIFT=$(SWIFT) Fuzz/run-fuzzers.sh $(FUZZ_RUNS)

fuzz-smoke: deps
	SWIFT=$(SWIFT) Fuzz/run-fuzzers.sh $(FUZZ_SMOKE_RUNS)

clean:
	rm -rf .build
