"""Named multi-view presets: view sizes and counts per data-set scale.

Sources (see ../shared/SEMPPL.md):
  - "cifar": 32 px large views, 16 px small views, L=4 large and S=2 small
    views per image, as in MAE-CT_SemPPL's CIFAR configuration (the only
    public reimplementation of SemPPL pretraining).
  - "imagenet": 224 px large, 96 px small views (SemPPL and BYOL at
    ImageNet scale; small-crop size and area range after SwAV's multi-crop,
    Caron et al. 2020), same default counts.
Augmentation parameters of each view are BYOL's asymmetric pair
(`byol_view_configs`). Counts and the crop-area ranges are arguments.
"""

from keras_semppl.augment.byol_views import SMALL_AREA_RANGE
from keras_semppl.augment.byol_views import byol_view_configs

#: name -> (large size, small size, default L, default S).
PRESETS = {
    "cifar": (32, 16, 4, 2),
    "imagenet": (224, 96, 4, 2),
}


def view_preset(name, num_large=None, num_small=None, large_area_range=(0.08, 1.0),
                small_area_range=SMALL_AREA_RANGE):
    """The `ViewSet` of a named preset.

    Args:
        name: "cifar" or "imagenet" (case-insensitive).
        num_large, num_small: override the preset's L=4 / S=2.
        large_area_range, small_area_range: crop-area ranges (BYOL 0.08-1;
            SwAV small crops 0.05-0.14).

    Returns:
        `ViewSet` of L large (size, size) and S small views, from
        `byol_view_configs`.

    Raises:
        ValueError: unknown name (listing the known ones) or bad counts.
    """
    key = str(name).lower()
    if key not in PRESETS:
        raise ValueError(
            f"Unknown view preset {name!r}; known presets: {', '.join(sorted(PRESETS))}.")
    large_size, small_size, default_large, default_small = PRESETS[key]
    return byol_view_configs(
        num_large=default_large if num_large is None else num_large,
        num_small=default_small if num_small is None else num_small,
        large_size=large_size, small_size=small_size,
        large_area_range=large_area_range, small_area_range=small_area_range)
