# Lambda build for AWS SAM (template.yaml, Metadata BuildMethod: makefile).
#
# `sam build` runs `make build-<LogicalId>` in a copy of CodeUri (the repository root) with
# ARTIFACTS_DIR set; each target writes $(ARTIFACTS_DIR)/bootstrap, the provided.al2023 entry
# point. Both functions run the same binary (it dispatches on the event), so both targets build it.
#
# GOARCH must match the functions' Architectures in template.yaml (arm64). For x86_64, change
# Architectures there and run `GOARCH=amd64 sam build`.

GO     ?= go
GOARCH ?= arm64

LAMBDA_PKG := ./cmd/lambda

.PHONY: build-SioFunction build-SweeperFunction lint-template

build-SioFunction build-SweeperFunction:
	$(if $(ARTIFACTS_DIR),,$(error ARTIFACTS_DIR is not set: run through `sam build`, or `make $@ ARTIFACTS_DIR=dir`))
	CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH) $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' -o $(ARTIFACTS_DIR)/bootstrap $(LAMBDA_PKG)

# cfn-lint (with the SAM translator) and the Go wiring test of template.yaml.
lint-template:
	cfn-lint template.yaml
	$(GO) test ./deploy/
