#!/usr/bin/env bash
# Reproduces the shipped demo model, lesiongan/resources/models/demo_antgan_flair.pt:
# train on the brats-size phantom, score on held-out phantom cases (another seed), then
# store fp16 weights with those scores and record the file's size and SHA-256 in the
# manifest. CPU: about 40 minutes on 2 cores (phantom 10, training 30, evaluation 4).
#   WORK=/tmp/demo-model ./scripts/make_demo_model.sh            # all steps
#   WORK=/tmp/demo-model ./scripts/make_demo_model.sh ship       # only the last step
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-work/demo-model}
LESIONGAN=${LESIONGAN:-.venv/bin/lesiongan}
PYTHON=${PYTHON:-.venv/bin/python}
if [ "${1:-all}" != ship ]; then
  "$LESIONGAN" phantom --out "$WORK/train" --cases 30 --seed 1 --size brats
  "$LESIONGAN" phantom --out "$WORK/test" --cases 6 --seed 7 --size brats --healthy-fraction 0
  OMP_NUM_THREADS=1 "$LESIONGAN" train --method antgan --data "$WORK/train" --out "$WORK/run" \
    --modalities flair --spacing 3 --ngf 16 --set ndf=32 --set cycle_ac=false --set cycle_nc=false --set lambda_am=30 \
    --iterations 12000 --checkpoint-every 1000 --sample-every 2000 --log-every 100 --seed 0 \
    --no-tensorboard
  "$LESIONGAN" evaluate --model "$WORK/run/model.pt" --data "$WORK/test" --split all --out "$WORK/evaluation"
fi
"$PYTHON" - "$WORK" <<'PY'
import json, sys
from pathlib import Path

from lesiongan.infer.catalog import default_model_path, manifest_path
from lesiongan.infer.download import file_sha256
from lesiongan.infer.modelfile import repack_model

work = Path(sys.argv[1])
summary = json.loads((work / "evaluation" / "evaluation.json").read_text(encoding="utf-8"))["summary"]
metrics = {name: round(value["mean"], 4) for name, value in summary.items()}
metrics["evaluated_on"] = "6 held-out brats-size phantom cases (seed 7), lesiongan evaluate"
shipped = repack_model(work / "run" / "model.pt", default_model_path(), half=True, metrics=metrics)
manifest = json.loads(manifest_path().read_text(encoding="utf-8"))
for entry in manifest["models"]:
    if entry["name"] == shipped.stem:
        entry["size"], entry["sha256"] = shipped.stat().st_size, file_sha256(shipped)
manifest_path().write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
print(f"{shipped}: {shipped.stat().st_size} bytes; metrics {metrics}")
PY
