"""Models: backbones, their weight files and the demo's pretrained stand-ins."""
