"""Convert musicnn's MSD model (a TensorFlow 1 checkpoint inside the `musicnn` wheel) to ONNX once, write
its mel filterbank, and check both against musicnn's own TensorFlow and librosa. Run by hand, in a scratch
venv; the product needs neither TensorFlow nor librosa:

    python3.11 -m venv /tmp/tf && /tmp/tf/bin/pip install tensorflow-cpu==2.21.* tf-keras tf2onnx librosa \
        onnxruntime soundfile soxr && /tmp/tf/bin/pip install --no-deps musicnn==0.1.0
    TF_USE_LEGACY_KERAS=1 /tmp/tf/bin/python tools/convert_musicnn.py [AUDIO ...]

Writes trompa_mer/features/models/msd_musicnn.onnx (the graph built for inference, frozen, tf2onnx opset 13),
models/musicnn_mel.npy (librosa's 96-band Slaney filterbank for 512-point frames at 16 kHz) and copies
musicnn's licence notice (ISC) beside them. Then, on each AUDIO (default: 4 clips of 4q-dev), prints the
largest difference between TensorFlow and ONNX on the same patches, and between musicnn's librosa front end
and trompa_mer.features.musicnn.log_mel on the same samples. musicnn's own extractor takes the log of a
float16 spectrogram, which overflows to inf on loud music (NaN outputs); as musicnn's training code did,
both front ends here take it in float32.
"""

import os
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUTPUTS = ("penultimate", "taggram")


def build() -> tuple:
    """A TensorFlow session of MSD_musicnn for inference (is_training False) restored from the wheel."""
    import tensorflow as tf
    from musicnn import configuration, models

    from trompa_mer.features import musicnn

    tf.compat.v1.disable_eager_execution()
    tf.compat.v1.reset_default_graph()
    with tf.name_scope("model"):
        x = tf.compat.v1.placeholder(tf.float32, [None, musicnn.PATCH_FRAMES, configuration.N_MELS], name="x")
        logits, *_, penultimate = models.define_model(x, False, "MSD_musicnn", len(configuration.MSD_LABELS))
        tf.identity(penultimate, name="penultimate")
        tf.identity(tf.nn.sigmoid(logits), name="taggram")
    session = tf.compat.v1.Session()
    tf.compat.v1.train.Saver().restore(session, str(Path(models.__file__).parent / "MSD_musicnn") + "/")
    return session, x


def main() -> None:
    import librosa
    import musicnn as package
    import onnxruntime
    import tensorflow as tf
    import tf2onnx

    from trompa_mer.features import musicnn
    from trompa_mer.features.learned import SAMPLE_RATE

    session, x = build()
    names = [f"model/{name}" for name in OUTPUTS]
    graph = session.graph.as_graph_def()
    frozen = tf.compat.v1.graph_util.convert_variables_to_constants(session, graph, names)
    tf2onnx.convert.from_graph_def(frozen, input_names=[musicnn.INPUT], output_names=musicnn.OUTPUTS,
                                   opset=13, output_path=str(musicnn.MODEL_FILE))
    filters = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=musicnn.N_FFT, n_mels=96).astype(np.float32)
    np.save(musicnn.MEL_FILTERS, filters)
    shutil.copy(next(Path(package.__file__).parent.parent.glob("musicnn-*.dist-info")) / "LICENSE.md",
                musicnn.MODELS / "MUSICNN_LICENSE.md")
    size = os.path.getsize(musicnn.MODEL_FILE) / 1e6
    print(f"wrote {musicnn.MODEL_FILE} ({size:.2f} MB), {musicnn.MEL_FILTERS}")
    onnx = onnxruntime.InferenceSession(str(musicnn.MODEL_FILE), providers=["CPUExecutionProvider"])
    clips = ([Path(a) for a in sys.argv[1:]]
             or sorted((ROOT.parent / "shared/data/4q-dev/audio").glob("*.mp3"))[:4])
    for clip in clips:
        y, _ = librosa.load(clip, sr=SAMPLE_RATE)
        theirs = librosa.feature.melspectrogram(y=y, sr=SAMPLE_RATE, n_fft=musicnn.N_FFT,
                                                hop_length=musicnn.HOP_LENGTH, n_mels=96).T
        theirs = np.log10(10000 * theirs.astype(np.float16).astype(np.float32) + 1)
        ours = musicnn.log_mel(y)
        patches = np.stack([ours[t:t + musicnn.PATCH_FRAMES] for t in
                            range(0, len(ours) - musicnn.PATCH_FRAMES + 1, musicnn.PATCH_HOP_FRAMES)])
        by_tf = session.run([f"{name}:0" for name in names], {x: patches})
        by_onnx = onnx.run(musicnn.OUTPUTS, {musicnn.INPUT: patches})
        gaps = [f"{n} {np.abs(a - b).max():.2e}" for n, a, b in zip(OUTPUTS, by_tf, by_onnx, strict=True)]
        print(f"{clip.name}: log-mel {np.abs(theirs - ours).max():.2e}; " + ", ".join(gaps))


if __name__ == "__main__":
    main()
