"""Callbacks: Python hooks run between epochs (never inside the fused epoch kernel)."""
from .base import Callback, History, LambdaCallback
from .files import BackupAndRestore, CSVLogger, ModelCheckpoint
from .learning_rate import LearningRateScheduler, ReduceLROnPlateau, set_learning_rate
from .stopping import EarlyStopping, TerminateOnNaN

__all__ = ["Callback", "History", "LambdaCallback", "EarlyStopping", "TerminateOnNaN",
           "ReduceLROnPlateau", "LearningRateScheduler", "set_learning_rate",
           "ModelCheckpoint", "BackupAndRestore", "CSVLogger"]
