"""View augmentations: one recipe of Keras preprocessing layers, two placements.

- `byol_views`: the recipe (`ViewConfig`, `byol_view_configs`, `view_layers`);
- `presets`: digits / cifar / imagenet view sets (`view_preset`);
- `make_view_fn`: the host placement (inside `tf.data`);
- `DeviceViews`: the device placement (inside the train step);
- `layer_adapter`: Keras and keras-cv layers as view specs.
"""

from keras_semppl.augment.byol_views import BYOL_VIEW_ONE
from keras_semppl.augment.byol_views import BYOL_VIEW_TWO
from keras_semppl.augment.byol_views import ViewConfig
from keras_semppl.augment.byol_views import ViewSet
from keras_semppl.augment.byol_views import byol_view_configs
from keras_semppl.augment.byol_views import view_layers
from keras_semppl.augment.byol_views import view_pipeline
from keras_semppl.augment.device_views import DeviceViews
from keras_semppl.augment.host_views import make_view_fn
from keras_semppl.augment.layer_adapter import PLACEMENTS
from keras_semppl.augment.layer_adapter import apply_layers
from keras_semppl.augment.presets import PRESETS
from keras_semppl.augment.presets import view_preset
from keras_semppl.augment.gaussian_blur import RandomGaussianBlur
from keras_semppl.augment.random_apply import RandomApply
from keras_semppl.augment.random_resized_crop import RandomResizedCrop
from keras_semppl.augment.solarize import Solarize
