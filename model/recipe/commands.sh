#!/usr/bin/env bash
# The shipped model's recipe: the 21 steps that made model/ (model/metadata.json records each
# step's exact command, data, epochs, wall time, hardware and figures; model/README.md explains
# them). Each training run is a settings file beside this script; `python -m htr train
# --settings FILE` runs one, and flags after it override the file (a run folder keeps the
# settings it ran with as RUN/settings.json).
#
# Run from the repository root. The data sets are read from $HTR_DATA (default ../shared/data,
# the path the settings files name). Steps 1, 8, 10 and 13 ran on a GPU under Keras on JAX;
# the others on a 2-core CPU under TensorFlow. Training is not bit-for-bit repeatable (thread
# scheduling, GPU kernels, the hardware and the code of the day), so a rerun makes a model of
# the same recipe, not the same weights.
set -euo pipefail

RECIPE=model/recipe
DATA="${HTR_DATA:-../shared/data}"

# A settings file with its data paths under $DATA.
settings() {
    if [ "$DATA" = "../shared/data" ]; then
        echo "$RECIPE/$1"
    else
        mkdir -p runs/recipe
        sed "s#\.\./shared/data#${DATA%/}#g" "$RECIPE/$1" > "runs/recipe/$1"
        echo "runs/recipe/$1"
    fi
}

# 1. from scratch on IAM On-Line: 18 epochs, 21 min, one NVIDIA H100 (16 cores), Keras on JAX
KERAS_BACKEND=jax python -m htr train --settings "$(settings 01-from-scratch.json)"

# 2. fine-tuning with a cosine learning rate: 20 epochs, 2 h, 2-core CPU. The run started with the
#    default 5 checkpoints kept and was stopped after epoch 7; it was resumed keeping 8, and
#    epochs 8-20 rendered a third of the lines with thick brushes instead of a quarter (the
#    augmentation of the day). The original run folder was ../runs/finetune, started from the
#    step-1 model then in model/.
python -m htr train --settings "$(settings 02-fine-tune.json)"
# 3. the mean of its last 3 epochs (18-20)
python -m htr average --run runs/finetune --last 3 --model-dir runs/finetune-avg

# 4. a second cosine cycle from that mean (warm restart): 18 epochs, 1 h 49 min, 2-core CPU
python -m htr train --settings "$(settings 04-warm-restart.json)"
# 5. the mean of its last 3 epochs (16-18)
python -m htr average --run runs/finetune2 --last 3 --model-dir runs/ondb-model

# 6. real scans (IAM available-train) beside pen data, half of every 6,000-line epoch each:
#    2-core CPU shared with other work; started with a 100-minute budget, resumed with 125 and
#    stopped during epoch 3 (epoch 2 ran with TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1)
python -m htr train --settings "$(settings 06-scans-beside-pen.json)"
TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 \
    python -m htr train --settings "$(settings 06-scans-beside-pen.json)" --resume --max-minutes 125
# 7. 0.7 x step 5 + 0.3 x step 6's epoch 2 (batch-norm statistics interpolated too)
python -m htr blend --models runs/ondb-model runs/mixed/checkpoints/epoch-0002/model.keras \
    --weights 0.7 0.3 --model-dir runs/step7

# 8. both sources on one NVIDIA H200 (16 cores), Keras on JAX: 14 epochs, 8 min 44 s. The GPU
#    steps read a compact copy of the data (strokes thinned by Douglas-Peucker at 2 whiteboard
#    units, grey scans as JPEG quality 80, binarised ones as 1-bit PNG)
KERAS_BACKEND=jax python -m htr train --settings "$(settings 08-gpu-cycle-a.json)"
# 9. the mean of its last 3 epochs (12-14)
python -m htr average --run runs/gpu-a --last 3 --model-dir runs/gpu-a-avg

# 10. a short second cycle with more pen data on the H200: 3 epochs, 4 min 10 s
KERAS_BACKEND=jax python -m htr train --settings "$(settings 10-gpu-cycle-b.json)"
# 11. the mean of its 3 epochs
python -m htr average --run runs/gpu-b --last 3 --model-dir runs/gpu-b-avg
# 12. 0.7 x step 11 + 0.3 x step 7
python -m htr blend --models runs/gpu-b-avg runs/step7 --weights 0.7 0.3 --model-dir runs/step12

# 13. a third cosine cycle from step 12 on the H200: 23 epochs, 8 min 22 s (109 s of it XLA compilation)
KERAS_BACKEND=jax python -m htr train --settings "$(settings 13-gpu-cycle-c.json)"
# 14. the mean of its last 3 epochs (21-23)
python -m htr average --run runs/gpu-c --last 3 --model-dir runs/gpu-c-avg
# 15. 0.8 x step 14 + 0.2 x step 12
python -m htr blend --models runs/gpu-c-avg runs/step12 --weights 0.8 0.2 --model-dir runs/step15

# 16. the recurrent part only, on step 15's frozen convolutions: 2-core CPU (AVX-512), 49 epochs,
#     48 min. Stopped after epoch 28 and resumed with a 48-minute budget instead of 60; the
#     resumed epochs padded batches to 256 px (the resume's default then), the first 28 to 64
python -m htr train --settings "$(settings 16-frozen-convolutions.json)"
python -m htr train --settings "$(settings 16-frozen-convolutions.json)" --resume --max-minutes 48 --width-quantum 256
# 17. the mean of its last 5 epochs (45-49)
python -m htr average --run runs/freeze --last 5 --model-dir runs/step17

# 18. the recurrent part again, on lines set upright (--deslant 1): 2-core CPU, 56 epochs, 60 min.
#     It ran before the deslant setting existed, through a wrapper that applied
#     htr.slant.deslanted to each preprocessed line, which the setting now does
python -m htr train --settings "$(settings 18-upright.json)"
# 19. the mean of its last 5 epochs (52-56)
python -m htr average --run runs/upright --last 5 --model-dir runs/upright-avg

# 20. a second such cycle on lines with 0.75 of their slant out: 2-core CPU shared with
#     measurements, 37 epochs, 46 min
python -m htr train --settings "$(settings 20-upright-0.75.json)"
# 21. the shipped weights: the mean of its last 5 epochs (33-37), read with 0.75 of the slant out
python -m htr average --run runs/upright2 --last 5 --model-dir model

# The network for ONNX Runtime, and the language model: built from the training text (held-out
# lines left out), then its weight and bonuses tuned on the tune halves of the validation sets
python -m htr export --model-dir model
python -m htr lm build --out model/lm --iam "$DATA/iam" --iam-ondb "$DATA/iam-ondb"
python -m htr lm tune --model-dir model --iam-ondb "$DATA/iam-ondb" \
    --iam "$DATA/iam" --iam-split "$DATA/iam/splits/available-dev.txt"
