from .optics import Optics, psf, native_field, airy_radius
from .forward import LightField, polyphase, unpolyphase
from .data import FineModel, add_noise, bin_volume, fine_optics, synthetic_volume, volume_psnr
from .recon import Tracker, UnfoldedLFM, admm, isra, lfm_loss, richardson_lucy
from .reference import psf_correlation, pyolaf_psf
