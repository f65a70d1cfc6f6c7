#!/usr/bin/env bash
# Reproduces the two shipped models in lesiongan/resources/models/:
# - demo_antgan_brain.pt, the default pseudo-healthy generator for brain MR (FLAIR, T1, T2,
#   T1ce; it runs on the FLAIR alone too), trained on the domain-randomized phantom
#   (docs/phantom.md), its mask threshold calibrated on healthy validation volumes, and scored
#   on two held-out splits, in-distribution and the held-out `test` setting, with every
#   sequence and with the FLAIR alone;
# - fpre_flair.pt, f_pre, the segmentor that scores healthiness in `lesiongan evaluate`,
#   trained on the plain phantom.
# The ship step stores fp16 weights with the held-out scores and records each file's size and
# SHA-256 in the manifest. CPU, 2 cores: about two and a half hours (phantoms 35 min, the
# demo model 90 min at one thread, f_pre 30 min beside it, calibration and evaluation 20 min).
#   WORK=/tmp/demo-model ./scripts/make_demo_model.sh            # all steps
#   WORK=/tmp/demo-model ./scripts/make_demo_model.sh ship       # only the last step
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-work/demo-model}
LESIONGAN=${LESIONGAN:-.venv/bin/lesiongan}
PYTHON=${PYTHON:-.venv/bin/python}
export OMP_NUM_THREADS=1  # on 2 cores, one thread per run is fastest (docs/speed.md)
if [ "${1:-all}" != ship ]; then
  # f_pre's data: the plain phantom, as before.
  "$LESIONGAN" phantom --out "$WORK/plain-train" --cases 30 --seed 1 --size brats
  "$LESIONGAN" phantom --out "$WORK/plain-test" --cases 6 --seed 7 --size brats --healthy-fraction 0
  # The demo model's data: randomized training and validation cases, an in-distribution test
  # split, and a test split in the held-out setting (its own seeds, contrast and lesion model).
  "$LESIONGAN" phantom --out "$WORK/train" --cases 40 --seed 11 --size brats --randomize train
  "$LESIONGAN" phantom --out "$WORK/train-more" --cases 50 --seed 21 --size brats --randomize train --healthy-fraction 0.1
  cp -al "$WORK"/train-more/Phantom_21_* "$WORK/train/"  # one folder of 90 cases
  "$LESIONGAN" phantom --out "$WORK/val" --cases 6 --seed 12 --size brats --randomize train --healthy-fraction 0.5
  "$LESIONGAN" phantom --out "$WORK/test-id" --cases 8 --seed 13 --size brats --randomize train --healthy-fraction 0.25
  "$LESIONGAN" phantom --out "$WORK/test-ood" --cases 8 --seed 14 --size brats --randomize test --healthy-fraction 0.25
  "$LESIONGAN" train --method segmentation --data "$WORK/plain-train" --out "$WORK/fpre" \
    --modalities flair --spacing 3 --set unet_base=16 --batch-size 16 \
    --iterations 3000 --checkpoint-every 500 --sample-every 1000 --log-every 100 --seed 0 --no-tensorboard &
  # The recipe of docs/ablation.md (ANT-GAN preset twin-gate): a gated U-Net generator with
  # the global shortcut at 3 mm on the four sequences; L_AM outside the lesion, the healthy
  # twin inside it, the identity on healthy slices, the gate against the lesion mask, a
  # reconstructor for painting; augmented batches, 30% of slices with sequences dropped (so
  # the FLAIR alone works); no adversarial terms.
  "$LESIONGAN" train --method antgan --preset twin-gate --data "$WORK/train" --out "$WORK/run" \
    --modalities flair t1 t2 t1ce --set drop_modalities=0.3 \
    --spacing 3 --ngf 16 --batch-size 4 --iterations 5600 --checkpoint-every 200 --sample-every 1000 --log-every 50 \
    --seed 0 --no-tensorboard --val-fraction 0.05
  wait
  "$LESIONGAN" calibrate --model "$WORK/run/model.pt" --data "$WORK/val" --out "$WORK/run/calibrated.pt" \
    --smooth-mm 1 --min-size 20
  for split in test-id test-ood; do  # the same cases with their FLAIR alone
    mkdir -p "$WORK/$split-flair"
    for case in "$WORK/$split"/*/; do
      mkdir -p "$WORK/$split-flair/$(basename "$case")"
      ln -sf "$(realpath "$case")"/*_flair*.nii.gz "$(realpath "$case")"/*_seg.nii.gz "$(realpath "$case")"/*_changed.nii.gz \
        "$WORK/$split-flair/$(basename "$case")/"
    done
  done
  for split in test-id test-ood test-id-flair test-ood-flair; do
    "$LESIONGAN" evaluate --model "$WORK/run/calibrated.pt" --data "$WORK/$split" --split all \
      --out "$WORK/evaluation-$split" --segmentor none
  done
  "$LESIONGAN" evaluate --model "$WORK/run/calibrated.pt" --data "$WORK/plain-test" --split all \
    --out "$WORK/evaluation-plain" --segmentor "$WORK/fpre/model.pt"
fi
"$PYTHON" - "$WORK" <<'PY'
import json, sys
from pathlib import Path

from lesiongan.data import readers
from lesiongan.infer.catalog import default_model_path, models_dir, record_shipped
from lesiongan.infer.modelfile import load_model, repack_model
from lesiongan.evaluation.fpre import segmentor_scores

work = Path(sys.argv[1])


def summary(split: str) -> dict:
    report = json.loads((work / f"evaluation-{split}" / "evaluation.json").read_text(encoding="utf-8"))["summary"]
    return {name: round(value["mean"], 4) for name, value in report.items() if value["n"]}


metrics = {"in_distribution": summary("test-id"), "held_out_setting": summary("test-ood"),
           "in_distribution_flair_only": summary("test-id-flair"),
           "held_out_setting_flair_only": summary("test-ood-flair"), "plain_phantom": summary("plain"),
           "evaluated_on": "8 + 8 held-out brats-size randomized phantom cases (seeds 13, 14; the second in the "
                           "held-out 'test' setting), with all four sequences and with the FLAIR alone, and 6 plain "
                           "phantom cases (seed 7), lesiongan evaluate"}
shipped = repack_model(work / "run" / "calibrated.pt", default_model_path(), half=True, metrics=metrics)
record_shipped(shipped)
print(f"{shipped}: {shipped.stat().st_size} bytes")
print("demo model:", json.dumps(metrics, indent=1))
if (work / "fpre" / "model.pt").is_file():
    fpre_path = repack_model(work / "fpre" / "model.pt", models_dir() / "fpre_flair.pt", half=True)
    # f_pre's own scores, measured on the shipped fp16 file
    scores = segmentor_scores(load_model(fpre_path), readers.discover(work / "plain-test"))
    repack_model(fpre_path, fpre_path, half=True, metrics={**scores, "evaluated_on": "6 held-out brats-size phantom cases (seed 7)"})
    record_shipped(fpre_path)
    print("f_pre:", scores)
PY
