"""Step-indexed schedules: learning rate (warm-up + cosine) and target EMA."""

from keras_semppl.schedules.ema_momentum import ema_momentum
from keras_semppl.schedules.warmup_cosine import WarmupCosineDecay
from keras_semppl.schedules.warmup_cosine import scale_learning_rate
from keras_semppl.schedules.warmup_cosine import warmup_cosine_decay

__all__ = ["WarmupCosineDecay", "ema_momentum", "scale_learning_rate", "warmup_cosine_decay"]
