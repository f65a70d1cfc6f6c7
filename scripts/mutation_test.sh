#!/usr/bin/env bash
# Mutation testing of the core modules with mutmut (not part of CI: it is CPU-heavy).
#   scripts/mutation_test.sh [MUTANT-GLOB ...]      e.g. "lesiongan.methods.antgan*"
# Copies the committed tree to a scratch folder, configures mutmut there (the repository's
# pyproject.toml stays as it is), runs at low priority and prints the results.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SCRATCH=${MUTATION_DIR:-/tmp/lesiongan-mutation}
rm -rf "$SCRATCH" && mkdir -p "$SCRATCH"
git archive HEAD | tar -x -C "$SCRATCH"
cat >> "$SCRATCH/pyproject.toml" <<'TOML'

[tool.mutmut]
source_paths = ["lesiongan/"]
only_mutate = ["lesiongan/methods/antgan.py", "lesiongan/nets/resnet.py", "lesiongan/infer/engine.py",
               "lesiongan/infer/download.py", "lesiongan/train/checkpoint.py", "lesiongan/metrics/detection.py",
               "lesiongan/infer/modelfile.py"]
also_copy = ["Testing/", "PseudoHealthy/", "LesionSynthesis/", "Training/", "Resources/"]
pytest_add_cli_args = ["-p", "no:xdist", "-p", "no:timeout", "-q", "-x", "-p", "no:cacheprovider"]
pytest_add_cli_args_test_selection = [
  "Testing/test_antgan_losses.py", "Testing/test_reliability_mutants.py", "Testing/test_nets_architectures.py",
  "Testing/test_infer_engine.py", "Testing/test_infer_modelfile.py", "Testing/test_packaging_models.py",
  "Testing/test_train_checkpoint.py", "Testing/test_reliability_training.py", "Testing/test_metrics_detection.py",
  "Testing/test_reliability_models.py"]
TOML
cd "$SCRATCH"
export OMP_NUM_THREADS=1
nice -n 15 "$ROOT/.venv/bin/mutmut" run --max-children 2 "$@"
"$ROOT/.venv/bin/mutmut" results
