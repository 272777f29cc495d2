"""Write trompa_mer/features/models/vibenet_mel.npy, vibenet's mel filterbank, and check our front end against
vibenet's own on real audio. Run once, by hand, where vibenet is installed with its dependencies (librosa):

    pip install vibenet==0.1.0      # in a scratch venv: librosa pulls numba and llvmlite (~210 MB)
    python tools/vibenet_mel_filters.py [AUDIO]

vibenet computes its log-mel input with `librosa.filters.mel(sr=16000, n_fft=1024, n_mels=128, fmax=8000)`.
The product installs vibenet without its dependencies (Makefile) to stay small, so it cannot call librosa;
this matrix is the one number librosa gave it. The check compares `trompa_mer.features.vibenet.log_mel`
with `vibenet.core.extract_mel`, the model's outputs on both, and the embedding output
against onnx's own graph edit, on 5 s of AUDIO (default: a 4q-dev clip).
"""

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    import librosa
    from vibenet.core import extract_mel, load_audio

    from trompa_mer.features import vibenet

    filters = librosa.filters.mel(sr=vibenet.SAMPLE_RATE, n_fft=vibenet.N_FFT, n_mels=vibenet.N_MELS,
                                  fmin=0.0, fmax=vibenet.SAMPLE_RATE / 2).astype(np.float32)
    np.save(vibenet.MEL_FILTERS, filters)
    print(f"wrote {vibenet.MEL_FILTERS}: {filters.shape}")
    default = ROOT.parent / "shared/data/4q-dev/audio/MT0000011357.mp3"
    y = load_audio(str(Path(sys.argv[1]) if len(sys.argv) > 1 else default))[: 5 * vibenet.SAMPLE_RATE]
    theirs, ours = extract_mel(y, vibenet.SAMPLE_RATE), vibenet.log_mel(y)
    print(f"log-mel {ours.shape}: largest difference {np.abs(theirs - ours).max():.3g} dB")
    session = vibenet.session()
    outputs = [session.run(["out"], {"x": mel[None]})[0] for mel in (theirs, ours)]
    print(f"model outputs: largest difference {np.abs(outputs[0] - outputs[1]).max():.3g}")
    print(f"embedding: largest difference {embedding_difference(session, ours):.3g} "
          "(vibenet.GELU_OUTPUT against onnx's own graph edit)")


def embedding_difference(session: object, mel: np.ndarray) -> float:
    """How far the `gelu` output of our session is from that of the graph onnx edits itself."""
    from importlib import resources

    import onnx
    import onnxruntime

    from trompa_mer.features import vibenet

    model = onnx.load(str(resources.files(vibenet.MODEL_PACKAGE) / vibenet.MODEL_FILE))
    model.graph.output.append(onnx.helper.make_tensor_value_info(vibenet.EMBEDDING_NODE,
                                                                 onnx.TensorProto.FLOAT, None))
    theirs = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [vibenet.EMBEDDING_NODE]
    feed = {"x": mel[None]}
    return float(np.abs(theirs.run(names, feed)[0] - session.run(names, feed)[0]).max())


if __name__ == "__main__":
    main()
