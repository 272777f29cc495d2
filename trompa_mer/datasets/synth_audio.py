"""Synthetic music: numpy-rendered audio whose valence/arousal targets shape the sound.

Arousal drives tempo, loudness, brightness (sine → saw timbre, drive) and rhythmic density;
valence drives mode (major / minor / diminished), consonance (octaves vs. minor seconds) and
detuning, and the melody's register. Pure numpy on a given generator: the same rng → the same audio.
The corpus around it (targets, annotations, listeners, DEAM's layout) is synth.py's.
"""

import wave
from pathlib import Path

import numpy as np

from trompa_mer.errors import CorpusError
from trompa_mer.storage import atomic_path

_MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
_MINOR = np.array([0, 2, 3, 5, 7, 8, 11])      # harmonic minor
_LOCRIAN = np.array([0, 1, 3, 5, 6, 8, 10])    # minor second and tritone above the tonic
_PROGRESSIONS = ((0, 5, 7, 0), (0, 7, 5, 0), (0, 5, 0, 7), (0, 9, 5, 7))


def _midi_hz(midi: np.ndarray) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


def _grid(beats: np.ndarray, per_beat: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Step index per sample (n,), start sample of each step (n_steps,), phase within step (n,)."""
    scaled = beats * per_beat
    steps = scaled.astype(np.int32)
    starts = np.concatenate(([0], np.flatnonzero(steps[1:] != steps[:-1]) + 1))
    scaled -= steps
    return steps, starts, scaled.astype(np.float32)


def _oscillator(freq: np.ndarray, sample_rate: int, bright: np.ndarray) -> np.ndarray:
    """Sine (bright 0) to naive sawtooth (bright 1) at a per-sample frequency (n,) Hz → (n,)."""
    cycles = np.cumsum(freq, dtype=np.float64)
    cycles *= 1.0 / sample_rate
    cycles -= np.floor(cycles)
    phase = cycles.astype(np.float32)
    sine = np.sin(np.float32(2 * np.pi) * phase)
    phase *= 2.0
    phase -= 1.0
    phase -= sine
    phase *= bright
    phase += sine
    return phase


def _decay(phase: np.ndarray, step_seconds: np.ndarray, tau: float) -> np.ndarray:
    """exp(-time since the step's start / tau): phase (n,) in [0, 1) of steps lasting (n,) s."""
    return np.exp(phase * step_seconds * np.float32(-1.0 / tau))


def render_excerpt(
    valence: np.ndarray, arousal: np.ndarray, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    """Render music that follows a valence/arousal target.

    valence, arousal: (n_samples,) target per audio sample in [-1, 1]. Returns the excerpt,
    (n_samples,) float32 in [-1, 1], mono at `sample_rate` Hz: chords, melody, drums.
    """
    valence = np.asarray(valence, dtype=np.float32)
    arousal = np.asarray(arousal, dtype=np.float32)
    if valence.ndim != 1 or valence.shape != arousal.shape or valence.size == 0:
        raise CorpusError(f"valence {valence.shape} and arousal {arousal.shape}: need equal (n,)")
    n, sr = valence.size, float(sample_rate)
    drive_v = np.tanh(4.0 * valence)                         # -1 negative .. 1 positive
    drive_a = np.tanh(4.0 * arousal)                         # -1 calm .. 1 excited
    hi = 0.5 * (drive_a + 1.0)                               # 0 calm .. 1 excited
    neg = np.clip(-drive_v, 0.0, 1.0)                        # 0 .. 1 negative valence
    bright = hi * hi                                         # sine → saw

    bpm = 115.0 + rng.uniform(-6.0, 6.0) + 45.0 * drive_a    # ~65 .. 165
    beats = np.cumsum(bpm, dtype=np.float64)
    beats -= bpm[0]
    beats *= 1.0 / (60.0 * sr)
    beat_seconds = 60.0 / bpm
    key = int(rng.integers(45, 53))
    progression = _PROGRESSIONS[int(rng.integers(len(_PROGRESSIONS)))]
    detune_cents = rng.uniform(-1.0, 1.0, size=5) * 30.0

    # Chords: one per bar, quality from the valence at the bar's start; pads when calm, stabs on
    # the eighths when excited.
    _, bar_starts, bar_phase = _grid(beats, 0.25)
    bar_v = drive_v[bar_starts]
    bar_root = key + 12 + np.array([progression[b % 4] for b in range(bar_starts.size)])
    third = np.where(bar_v >= 0, 4, 3)
    fifth = np.where(bar_v > -0.5, 7, 6)                     # diminished when clearly negative
    top = np.where(bar_v >= 0, 12, 1)                        # octave vs. minor second
    intervals = np.stack([np.full_like(third, -12), np.zeros_like(third), third, fifth, top], 1)
    bar_neg = np.clip(-bar_v, 0.0, 1.0)[:, None]
    midi = bar_root[:, None] + intervals + bar_neg * detune_cents[None, :] / 100.0
    bar_lengths = np.diff(np.append(bar_starts, n))
    step_of, step_starts, eighth_phase = _grid(beats, 2.0)
    eighth_seconds = 0.5 * beat_seconds
    chord_env = 1.0 - _decay(bar_phase, 4.0 * beat_seconds, 0.35)
    chord_env += hi * (_decay(eighth_phase, eighth_seconds, 0.09) - chord_env)
    voice_gain = (0.9, 0.6, 0.5, 0.5, 0.25 + 0.45 * neg)     # the minor second grows with -v
    chords = np.zeros(n, dtype=np.float32)
    for j, gain in enumerate(voice_gain):
        freq = np.repeat(_midi_hz(midi[:, j]), bar_lengths)
        chords += gain * _oscillator(freq, sample_rate, bright)
    chords *= chord_env
    chords *= 0.4

    # Melody: eighth-note grid; calm music holds notes, excited music plays most steps; its
    # register rises with valence; negative valence adds a detuned double (beating).
    k = step_starts.size
    step_hi, step_v = hi[step_starts], drive_v[step_starts]
    onset = rng.random(k) < 0.2 + 0.75 * step_hi
    onset[0] = True
    walk = np.cumsum(rng.integers(-2, 3, size=k)) + 7
    degree = np.abs((walk % 20) - 10) + 2                     # fold the walk into 2..12
    last_onset = np.maximum.accumulate(np.where(onset, np.arange(k), 0))
    degree, held_v = degree[last_onset], step_v[last_onset]
    scales = np.where(held_v[:, None] >= 0, _MAJOR,
                      np.where(held_v[:, None] > -0.5, _MINOR, _LOCRIAN))
    note = key + 24 + 12 * (degree // 7) + scales[np.arange(k), degree % 7] + np.rint(4 * held_v)
    step_lengths = np.diff(np.append(step_starts, n))
    t = np.arange(n, dtype=np.float32) * np.float32(1.0 / sr)
    mel_freq = np.sin(np.float32(2 * np.pi * 5.5) * t)       # vibrato ±0.4 %
    mel_freq *= 0.004
    mel_freq += 1.0
    mel_freq *= np.repeat(_midi_hz(note).astype(np.float32), step_lengths)
    since_note = np.arange(n, dtype=np.int32)
    since_note -= np.repeat(step_starts[last_onset].astype(np.int32), step_lengths)
    since_note = since_note.astype(np.float32) * np.float32(1.0 / sr)
    attack = 0.005 + 0.08 * (1.0 - hi)
    decay = 0.15 + 1.2 * (1.0 - hi)
    mel_env = np.minimum(1.0, since_note / attack) * (0.25 + 0.75 * np.exp(-since_note / decay))
    melody = _oscillator(mel_freq, sample_rate, bright)
    chorus = np.float32(2.0 ** (25.0 / 1200.0))
    melody += neg * _oscillator(mel_freq * chorus, sample_rate, bright)
    melody *= mel_env
    melody *= 0.35

    # Drums: kick on beats, snare on 2 and 4, hi-hats on 8ths and 16ths; all fade out when calm.
    beat_of, _, beat_phase = _grid(beats, 1.0)
    since_beat = beat_phase * beat_seconds
    sweep = 45.0 * since_beat + 75.0 * 0.03 * (1.0 - np.exp(since_beat * np.float32(-1 / 0.03)))
    drums = np.sin(np.float32(2 * np.pi) * sweep) * _decay(beat_phase, beat_seconds, 0.18)
    drums *= 0.8
    noise = rng.standard_normal(n + 1, dtype=np.float32)
    dense = np.clip(drive_a, 0.0, 1.0)
    drums += noise[:n] * _decay(beat_phase, beat_seconds, 0.09) * (beat_of & 1) * 0.25 * dense
    drums *= np.clip(drive_a + 0.3, 0.0, 1.3) * np.float32(1 / 1.3)
    hats = 0.5 * dense * _decay(_grid(beats, 4.0)[2], 0.25 * beat_seconds, 0.025)
    hats += 0.4 * np.clip(drive_a + 0.4, 0.0, 1.0) * _decay(eighth_phase, eighth_seconds, 0.035)
    hats *= np.diff(noise)                                    # high-passed noise
    hats *= 0.2
    drums += hats

    mix = chords + melody + drums
    mix *= 1.4 * 10.0 ** ((-22.0 + 20.0 * hi) / 20.0)
    mix *= 1.0 + 0.8 * neg * hi                               # angry: more drive
    return np.tanh(mix)


def write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    """Write (n,) float audio in [-1, 1] atomically as 16-bit PCM mono."""
    pcm = np.rint(np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")
    with atomic_path(path) as tmp, wave.open(str(tmp), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(sample_rate)
        handle.writeframes(pcm.tobytes())
