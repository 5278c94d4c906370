// Package keyshare splits a user's paper key into k-of-n word shares for social recovery.
//
// `coco key split --shares 5 --threshold 3` gives one share per trusted
// person; any 3 of them bring the seed back (`coco key combine`), fewer say
// nothing about it (Shamir's scheme, package consortium/shamir). A share is
// one line of text, short enough to write down or put in a QR code:
//
//	coco-share-1 3of5 #2 uabcdefghijk <24 BIP39 words>
//
// the threshold and count, the share's x coordinate, the first characters
// of the user ID, and the share's 32 bytes as BIP39 words (whose checksum
// catches most typos). Combine checks what it rebuilds against the user ID:
// a share changed on purpose gives another user and is refused, and with
// more than k shares Combine names the share that does not fit.
package keyshare
