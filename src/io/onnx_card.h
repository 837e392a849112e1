/* The model card of an exported ONNX file: what a deployment needs to feed
 * the network as graft does (class names, mean/std, input shape, colour
 * mode, resize/crop policy), kept in the ModelProto's metadata_props as
 * short JSON values so any ONNX runtime can read them (docs/onnx.md). */
#ifndef GRAFT_ONNX_CARD_H
#define GRAFT_ONNX_CARD_H
#include "graft.h"
#include "onnx_common.h"

#define ONNX_CARD_MAX 10

typedef struct onnx_card {
    Onnx__StringStringEntryProto entry[ONNX_CARD_MAX];
    Onnx__StringStringEntryProto *ptr[ONNX_CARD_MAX]; /* for metadata_props */
    char *value[ONNX_CARD_MAX];                       /* owned */
    int n;
} onnx_card;

/* Fills card from meta (borrowed) and the model's input shape c x h x w.
 * Returns 0, or -1 when out of memory (card is then freed). */
int onnx_card_build(const graft_model_meta *meta, int c, int h, int w, onnx_card *card);
void onnx_card_free(onnx_card *card);

/* Reads the card's keys from mp into meta (arch, class names, mean, std;
 * meta must be zeroed by the caller, std defaults to 1). Returns the number
 * of card keys understood (0: the file has no graft card), or -1 when out
 * of memory. Malformed values are ignored (counted as absent). */
int onnx_card_read(const Onnx__ModelProto *mp, graft_model_meta *meta);
#endif
