"""Explanations: which pixels or words drove a prediction — `explain` (explain.py) dispatches to
Grad-CAM for image models (grad_cam.py, images.py) and integrated gradients over the token
embeddings (and the TF-IDF branch) for text models and taggers (integrated_gradients.py,
embeddings.py, text.py, words.py, tagging.py); scores.py gives the scores explained and
figures.py draws them."""
