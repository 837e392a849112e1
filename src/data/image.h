/* Image files of any format graft reads (internal to the data layer and its
 * users): the decoder is picked by the file's content (magic bytes), never by
 * its name, so a PNG named .jpg decodes and a WebP named .png is refused
 * with a message that says what it is.
 *
 * Same conventions as dataset.h: pixels are float32 in [0, 1], C x H x W;
 * failures return a graft_status and write a one-line message naming the
 * file into err (err may be NULL, errlen 0). */
#ifndef GRAFT_IMAGE_H
#define GRAFT_IMAGE_H
#include <stddef.h>

#include "graft.h"

typedef enum image_format {
    IMAGE_UNKNOWN = 0,
    IMAGE_PNG,
    IMAGE_JPEG,
    /* recognised so the message can name them; not decoded */
    IMAGE_WEBP,
    IMAGE_BMP,
    IMAGE_GIF,
    IMAGE_TIFF,
    IMAGE_HEIF, /* HEIC/HEIF and AVIF (ISO base media "ftyp" boxes) */
} image_format;

/* The format buf starts with (n bytes; any n, 0 included). */
image_format image_sniff(const unsigned char *buf, size_t n);
/* Short display name ("PNG", "JPEG", "WebP", ...; "unknown"). Static. */
const char *image_format_name(image_format f);

/* Decodes a JPEG (baseline or progressive; grey, YCbCr/RGB, CMYK/YCCK with
 * Adobe's inverted CMYK handled) from memory to channels = 1 (grey JPEGs:
 * libjpeg's grey samples; colour: luminance 0.299R+0.587G+0.114B as the PNG
 * reader computes it) or 3 (RGB; grey is replicated) floats v/255, C x H x W.
 * The EXIF orientation (APP1, tag 0x112, values 2..8) is applied, so *w, *h
 * are the upright size. Truncated or corrupt data (including libjpeg's
 * "premature end" and "bad Huffman code" warnings) -> GRAFT_ERR_FORMAT
 * naming `name`; more than 2^26 pixels -> GRAFT_ERR_FORMAT before any pixel
 * memory is allocated. Never exits. Caller owns *pix (free()). */
graft_status jpeg_decode_mem(const unsigned char *buf, size_t n, const char *name, int channels,
                             float **pix, int *w, int *h, char *err, size_t errlen);
/* jpeg_decode_mem for callers that shrink the image to a fixed size anyway
 * (data loaders, predict): when min_w and min_h are > 0, libjpeg decodes at
 * the smallest of 1/8, 1/4 or 1/2 size whose upright result is still at
 * least min_w x min_h (each side is rounded up, so the aspect ratio may move
 * by under one output pixel). That is a 4-60x saving on camera photos, and
 * DCT-domain scaling averages where a bilinear shrink of the full image
 * would alias. min_w or min_h <= 0: full size. Caller owns *pix (free()). */
graft_status jpeg_decode_mem_fit(const unsigned char *buf, size_t n, const char *name, int channels,
                                 int min_w, int min_h, float **pix, int *w, int *h, char *err,
                                 size_t errlen);

/* Sniffs buf and decodes PNG (png_decode_mem) or JPEG (jpeg_decode_mem).
 * A recognised format graft does not decode (WebP, BMP, GIF, TIFF,
 * HEIF/AVIF) -> GRAFT_ERR_UNSUPPORTED, "NAME: unsupported image format
 * (WebP); graft reads PNG and JPEG"; anything else -> GRAFT_ERR_FORMAT.
 * Caller owns *pix (free()). */
graft_status image_decode_mem(const unsigned char *buf, size_t n, const char *name, int channels,
                              float **pix, int *w, int *h, char *err, size_t errlen);
/* Reads path (at most 1 GiB) and calls image_decode_mem with name = path.
 * Unreadable -> GRAFT_ERR_IO. Caller owns *pix (free()). */
graft_status image_decode_file(const char *path, int channels, float **pix, int *w, int *h,
                               char *err, size_t errlen);
/* The same two with a size hint: JPEGs go through jpeg_decode_mem_fit
 * (decoded at a reduced size that still covers min_w x min_h); PNGs decode
 * at full size. Caller owns *pix (free()). */
graft_status image_decode_mem_fit(const unsigned char *buf, size_t n, const char *name, int channels,
                                  int min_w, int min_h, float **pix, int *w, int *h, char *err,
                                  size_t errlen);
graft_status image_decode_file_fit(const char *path, int channels, int min_w, int min_h, float **pix,
                                   int *w, int *h, char *err, size_t errlen);
#endif
