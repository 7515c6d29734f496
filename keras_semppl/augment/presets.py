"""Named view presets: sizes, counts and per-scale parameters in one place.

- "imagenet": 224 px large and 96 px small views, L=4 / S=2, BYOL's
  parameters unchanged (SemPPL and BYOL at ImageNet scale; small-crop size
  and area range after SwAV's multi-crop, Caron et al. 2020).
- "cifar": 32 px large and 16 px small views, L=4 / S=2, as in
  MAE-CT_SemPPL's CIFAR configuration (the only public reimplementation of
  SemPPL pretraining); BYOL's parameters with the small-image blur settings
  (`byol_views.small_image_overrides`: no blur, sigma scaled to the side).
- "digits": the default job of `semppl train` (8x8 digits resized to 16 px,
  two views, no small views). BYOL's parameters with milder crops (area
  0.7-1), no flips (a mirrored 2 is no 2), blur p=0.5 in view one and 0.1 in
  view two, no solarisation. These values were picked for that job, not
  taken from a paper: with crops of 0.4-1 of the area and solarisation 0.2
  in view two, the pseudo-labels of the digits job after 30 epochs were 7
  points less accurate (0.861 vs 0.935, seed 0, see benchmarks/NOTES.md); `DIGITS_COMMON`, `DIGITS_VIEW_ONE` and
  `DIGITS_VIEW_TWO` hold them, and every field can be overridden through
  `view_preset(..., view_one=..., view_two=..., **common)`.
"""

from keras_semppl.augment.byol_views import SMALL_AREA_RANGE
from keras_semppl.augment.byol_views import byol_view_configs
from keras_semppl.augment.byol_views import small_image_overrides

#: name -> (large size, small size, default L, default S).
PRESETS = {
    "digits": (16, 8, 2, 0),
    "cifar": (32, 16, 4, 2),
    "imagenet": (224, 96, 4, 2),
}

DIGITS_COMMON = dict(flip_prob=0.0)
DIGITS_AREA_RANGE = (0.7, 1.0)
DIGITS_VIEW_ONE = dict(blur_prob=0.5, solarize_prob=0.0)
DIGITS_VIEW_TWO = dict(blur_prob=0.1, solarize_prob=0.0)


def view_preset(name, num_large=None, num_small=None, large_size=None, small_size=None,
                large_area_range=None, small_area_range=SMALL_AREA_RANGE, view_one=None,
                view_two=None, **common):
    """The `ViewSet` of a named preset, with any parameter overridden.

    Args:
        name: "digits", "cifar" or "imagenet" (case-insensitive).
        num_large, num_small: override the preset's view counts.
        large_size, small_size: override the preset's view sides (digits:
            the `--image-size` of the job).
        large_area_range: crop-area range of the large views (BYOL 0.08-1;
            digits 0.7-1); small_area_range: of the small views (SwAV
            0.05-0.14).
        view_one, view_two: dicts of `ViewConfig` fields for one side.
        **common: `ViewConfig` fields for every view, e.g. `flip_prob=0.0`.

    Returns:
        A `ViewSet` of `ViewConfig`s.

    Raises:
        ValueError: unknown name (listing the known ones), bad counts or
            fields.
    """
    key = str(name).lower()
    if key not in PRESETS:
        raise ValueError(
            f"Unknown view preset {name!r}; known presets: {', '.join(sorted(PRESETS))}.")
    default_large_size, default_small_size, default_large, default_small = PRESETS[key]
    large_size = default_large_size if large_size is None else large_size
    small_size = default_small_size if small_size is None else small_size
    one, two, fields = {}, {}, {}
    if key == "digits":
        one, two, fields = dict(DIGITS_VIEW_ONE), dict(DIGITS_VIEW_TWO), dict(DIGITS_COMMON)
        large_area_range = large_area_range or DIGITS_AREA_RANGE
    elif key == "cifar":
        fields = small_image_overrides(large_size)
        one = two = dict(blur_prob=fields["blur_prob"])  # over BYOL's per-side blur
    fields.update(common)
    for side in (one, two):  # an explicit common value wins over the preset's sides
        for field in common:
            side.pop(field, None)
    one.update(view_one or {})
    two.update(view_two or {})
    return byol_view_configs(
        num_large=default_large if num_large is None else num_large,
        num_small=default_small if num_small is None else num_small,
        large_size=large_size, small_size=small_size,
        large_area_range=large_area_range or (0.08, 1.0), small_area_range=small_area_range,
        view_one=one, view_two=two, **fields)
