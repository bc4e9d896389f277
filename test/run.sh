#!/bin/sh
# The whole test suite (`npm test`): the compiled tests, two files at a time, then the final
# checks that read what the others left (the secret scan). TAP goes to stdout; a failed run
# ends with the list of failed tests and their errors, since CI shows only the output's tail.
set -u
npx tsc -p tsconfig.json || exit 1
rm -rf dist/test-artifacts
REGAUTH_TEST_ARTIFACTS="$PWD/dist/test-artifacts"
export REGAUTH_TEST_ARTIFACTS
mkdir -p "$REGAUTH_TEST_ARTIFACTS"

run() {
  summary="$1"
  shift
  node --test --test-reporter=tap --test-reporter-destination=stdout \
    --test-reporter=./dist/test/helpers/failure-summary.js --test-reporter-destination="$summary" "$@" && return 0
  cat "$summary"
  return 1
}

run "$REGAUTH_TEST_ARTIFACTS/failures.txt" --test-concurrency=2 $(find dist/test -name '*.test.js' -not -path '*/final/*' | sort) || exit 1
run "$REGAUTH_TEST_ARTIFACTS/final-failures.txt" dist/test/final/*.test.js
