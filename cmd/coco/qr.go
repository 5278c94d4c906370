package main

import (
	"fmt"
	"io"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// qrLevel is the error correction of the QR codes coco draws: a screen
// is clean, so the lowest level, for the smallest code (an invite code
// fits 80 columns).
const qrLevel = qrcode.Low

// writeQR draws text as a QR code in the terminal, two modules a line
// with half blocks, as `qrencode -t UTF8` does: a block is a light
// module, so the code reads on a dark terminal, the quiet zone included.
func writeQR(w io.Writer, text string) error {
	q, err := qrcode.New(text, qrLevel)
	if err != nil {
		return fmt.Errorf("qr code: %w", err)
	}
	bm := q.Bitmap() // true: dark
	light := func(y, x int) bool { return y < len(bm) && !bm[y][x] }
	var b strings.Builder
	for y := 0; y < len(bm); y += 2 {
		for x := range bm[y] {
			switch top, bottom := light(y, x), light(y+1, x); {
			case top && bottom:
				b.WriteRune('█')
			case top:
				b.WriteRune('▀')
			case bottom:
				b.WriteRune('▄')
			default:
				b.WriteByte(' ')
			}
		}
		b.WriteByte('\n')
	}
	_, err = io.WriteString(w, b.String())
	return err
}
