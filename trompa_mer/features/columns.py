"""Fixed names of the features: the 130 openSMILE descriptors, the 260 feature columns, DEAM's names."""

_LLD = (
    ["F0final_sma", "voicingFinalUnclipped_sma", "jitterLocal_sma", "jitterDDP_sma",
     "shimmerLocal_sma", "logHNR_sma", "audspec_lengthL1norm_sma", "audspecRasta_lengthL1norm_sma",
     "pcm_RMSenergy_sma", "pcm_zcr_sma"]
    + [f"audSpec_Rfilt_sma[{i}]" for i in range(26)]
    + ["pcm_fftMag_fband250-650_sma", "pcm_fftMag_fband1000-4000_sma",
       "pcm_fftMag_spectralRollOff25.0_sma", "pcm_fftMag_spectralRollOff50.0_sma",
       "pcm_fftMag_spectralRollOff75.0_sma", "pcm_fftMag_spectralRollOff90.0_sma",
       "pcm_fftMag_spectralFlux_sma", "pcm_fftMag_spectralCentroid_sma",
       "pcm_fftMag_spectralEntropy_sma", "pcm_fftMag_spectralVariance_sma",
       "pcm_fftMag_spectralSkewness_sma", "pcm_fftMag_spectralKurtosis_sma",
       "pcm_fftMag_spectralSlope_sma", "pcm_fftMag_psySharpness_sma",
       "pcm_fftMag_spectralHarmonicity_sma"]
    + [f"mfcc_sma[{i}]" for i in range(1, 15)]
)
LLD_NAMES: tuple[str, ...] = tuple(_LLD)
"""The 65 IS13_ComParE low-level descriptors, in openSMILE's order."""



def delta_name(lld: str) -> str:
    """openSMILE's delta name: `_de` goes before an index, `mfcc_sma[1]` → `mfcc_sma_de[1]`."""
    base, bracket, index = lld.partition("[")
    return f"{base}_de{bracket}{index}"


DESCRIPTOR_NAMES: tuple[str, ...] = LLD_NAMES + tuple(delta_name(name) for name in LLD_NAMES)
"""The 130 descriptors of an `-lldcsvoutput` CSV: 65 LLDs, then their 65 deltas."""

STATISTICS = ("stddev", "amean")
"""Per-window statistics, in column order."""

FEATURE_NAMES: tuple[str, ...] = tuple(
    f"{name}_{stat}" for name in DESCRIPTOR_NAMES for stat in STATISTICS
)
"""The 260 feature columns every model consumes, in order."""

TIME_COLUMN = "frameTime"
"""First column of every feature CSV: the window's start in seconds."""

DEAM_PREFIX = "pcm_fftMag_"


def deam_name(feature: str) -> str:
    """DEAM's distributed feature files prefix the MFCC columns with `pcm_fftMag_`."""
    return DEAM_PREFIX + feature if feature.startswith("mfcc_") else feature


DEAM_FEATURE_NAMES: tuple[str, ...] = tuple(deam_name(name) for name in FEATURE_NAMES)
"""The same 260 features under the names of DEAM's own feature files."""


VIBENET_OUTPUTS = ("acousticness", "danceability", "energy", "instrumentalness", "liveness", "speechiness",
                   "valence")
"""vibenet's seven heads, in its model's output order."""
VIBENET_EMBEDDING = 256
"""Width of vibenet's penultimate layer, the embedding its heads read."""
VIBENET_NAMES: tuple[str, ...] = (tuple(f"vibenet_{name}" for name in VIBENET_OUTPUTS)
                                  + tuple(f"vibenet_embedding[{i}]" for i in range(VIBENET_EMBEDDING)))
"""The 263 columns of the vibenet family: its raw outputs, then its embedding."""

MUSICNN_NAMES: tuple[str, ...] = (tuple(f"musicnn_penultimate[{i}]" for i in range(200))
                                  + tuple(f"musicnn_tag[{i}]" for i in range(50)))
"""The 250 columns of the musicnn family: the MSD model's penultimate layer, then its 50 tags."""

IS13 = "is13"
VIBENET = "vibenet"
MUSICNN = "musicnn"
FAMILIES: dict[str, tuple[str, ...]] = {IS13: FEATURE_NAMES, VIBENET: VIBENET_NAMES, MUSICNN: MUSICNN_NAMES}
"""Descriptor families by name, each its columns in CSV order. IS13 is every CSV's first family (its
windows are the rows); the others are added after it, one value per window."""
EXTRA_FAMILIES = tuple(name for name in FAMILIES if name != IS13)


def family_names(families: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The columns of `families`, in FAMILIES order."""
    return tuple(name for family in FAMILIES if family in families for name in FAMILIES[family])


def families_of(names: tuple[str, ...] | list[str]) -> list[str]:
    """The families whose columns `names` include, in FAMILIES order."""
    wanted = set(names)
    return [family for family, columns in FAMILIES.items() if wanted & set(columns)]
