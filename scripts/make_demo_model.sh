#!/usr/bin/env bash
# Reproduces the two shipped models in lesiongan/resources/models/:
# - demo_antgan_flair.pt, the demo pseudo-healthy generator (ANT-GAN), and
# - fpre_flair.pt, f_pre, the segmentor that scores healthiness in `lesiongan evaluate`.
# Both train on the same brats-size phantom and are scored on held-out phantom cases (another
# seed); the ship step stores fp16 weights with those scores and records each file's size and
# SHA-256 in the manifest. CPU: about an hour on 2 cores (phantom 10 min, the two trainings
# 25-30 min each, run side by side with one thread each; evaluation 5 min).
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
  OMP_NUM_THREADS=1 "$LESIONGAN" train --method segmentation --data "$WORK/train" --out "$WORK/fpre" \
    --modalities flair --spacing 3 --set unet_base=16 --batch-size 16 \
    --iterations 3000 --checkpoint-every 500 --sample-every 1000 --log-every 100 --seed 0 --no-tensorboard &
  OMP_NUM_THREADS=1 "$LESIONGAN" train --method antgan --data "$WORK/train" --out "$WORK/run" \
    --modalities flair --spacing 3 --ngf 16 --set ndf=32 --set cycle_ac=false --set cycle_nc=false --set lambda_am=100 \
    --iterations 12000 --checkpoint-every 1000 --sample-every 2000 --log-every 100 --seed 0 \
    --no-tensorboard
  wait
  "$LESIONGAN" evaluate --model "$WORK/run/model.pt" --data "$WORK/test" --split all --out "$WORK/evaluation" \
    --segmentor "$WORK/fpre/model.pt"
fi
"$PYTHON" - "$WORK" <<'PY'
import json, sys
from pathlib import Path

from lesiongan.data import readers
from lesiongan.infer.catalog import default_model_path, models_dir, record_shipped
from lesiongan.infer.modelfile import load_model, repack_model
from lesiongan.metrics.fpre import segmentor_scores

work = Path(sys.argv[1])
summary = json.loads((work / "evaluation" / "evaluation.json").read_text(encoding="utf-8"))["summary"]
metrics = {name: round(value["mean"], 4) for name, value in summary.items()}
metrics["evaluated_on"] = "6 held-out brats-size phantom cases (seed 7), lesiongan evaluate with f_pre"
for shipped in (repack_model(work / "run" / "model.pt", default_model_path(), half=True, metrics=metrics),
                repack_model(work / "fpre" / "model.pt", models_dir() / "fpre_flair.pt", half=True)):
    record_shipped(shipped)
    print(f"{shipped}: {shipped.stat().st_size} bytes")
print("demo model:", metrics)
# f_pre's own scores, measured on the shipped fp16 file
fpre_path = models_dir() / "fpre_flair.pt"
scores = segmentor_scores(load_model(fpre_path), readers.discover(work / "test"))
repack_model(fpre_path, fpre_path, half=True, metrics={**scores, "evaluated_on": metrics["evaluated_on"].split(",")[0]})
record_shipped(fpre_path)
print("f_pre:", scores)
PY
