"""The seed Keras example ("Introduction to Deep Learning - I", Nimblebox), on fastnn.

The code is the notebook's, cell by cell, as typed. What changed, each marked
``# fastnn:`` where it happens:

- the imports: ``fastnn.datasets`` for ``tf.keras.datasets``, ``fastnn`` for
  ``tensorflow.keras.models`` / ``tensorflow.keras.layers``;
- the data set: Fashion-MNIST by default (MNIST is not installed everywhere); set
  ``FASTNN_EXAMPLE_DATASET=mnist`` for the notebook's digits;
- activations by name (``"relu"``) instead of ``tf.nn.relu``;
- values a notebook cell displays are printed;
- matplotlib is optional: without it the two ``plt.imshow`` lines are skipped.

Run it with ``python examples/keras_mnist_seed.py`` (about 10 s of training on two
cores; the test accuracy on Fashion-MNIST is about 0.88).
"""
import os

from fastnn.datasets import fashion_mnist, mnist  # fastnn: was `import tensorflow as tf`

DATASETS = {"fashion_mnist": fashion_mnist, "mnist": mnist}
dataset = DATASETS[os.environ.get("FASTNN_EXAMPLE_DATASET", "fashion_mnist")]

# #### Downloading Dataset
(x_train, y_train), (x_test, y_test) = dataset.load_data()  # fastnn: tf.keras.datasets.mnist

try:  # fastnn: plotting is optional; the example runs (and is tested) without it
    import matplotlib.pyplot as plt
except ImportError:
    plt = None

image_index = 7777  # You may select anything up to 60,000

print(y_train[image_index])  # The label is 8 (on MNIST; on Fashion-MNIST, a class 0-9)
if plt is not None:
    plt.imshow(x_train[image_index], cmap='Greys')

print(x_train.shape)  # fastnn: a notebook cell displays `x_train.shape`

# #### Reshaping and Normalizing the Images

# Reshaping the array to 4-dims so that it can work with the Keras API
x_train = x_train.reshape(x_train.shape[0], 28, 28, 1)
x_test = x_test.reshape(x_test.shape[0], 28, 28, 1)

input_shape = (28, 28, 1)

# Making sure that the values are float so that we can get decimal points after division
x_train = x_train.astype('float32')
x_test = x_test.astype('float32')

# Normalizing the RGB codes by dividing it to the max RGB value.
x_train /= 255
x_test /= 255

# Flatten the images.
x_train = x_train.reshape((-1, 784))
x_test = x_test.reshape((-1, 784))

print('x_train shape:', x_train.shape)
print('Number of images in x_train', x_train.shape[0])
print('Number of images in x_test', x_test.shape[0])

# #### Building the Dense Neural Network

# Importing the required Keras modules containing model and layers
from fastnn import Dense, Sequential  # noqa: E402  fastnn: no Dropout, Flatten (unused)

# Creating a Sequential Model and adding the layers
model = Sequential()
model.add(Dense(64, activation="relu", input_shape=(784,)))  # fastnn: tf.nn.relu -> "relu"
model.add(Dense(64, activation="relu"))
model.add(Dense(10, activation="softmax"))

# #### Compiling and Fitting the Model
model.compile(optimizer='adam',
              loss='sparse_categorical_crossentropy',
              metrics=['accuracy'])
model.fit(x=x_train,y=y_train, epochs=20)

# #### Evaluating the Model
print(model.evaluate(x_test, y_test))  # fastnn: {'loss': ..., 'accuracy': ...}

# #### Prediction
image_index = 9
if plt is not None:
    plt.imshow(x_test[image_index].reshape(28, 28),cmap='Greys')
pred = model.predict(x_test[image_index].reshape((-1, 784)))
print("Predicted Number:", pred.argmax())
