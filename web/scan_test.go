package web_test

import (
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"
	qrcode "github.com/skip2/go-qrcode"
)

// qrPhoto writes a picture of text's QR code, off-centre on a grey
// background as a photo of a device's screen would have it.
func qrPhoto(t *testing.T, text string) (path string, img *image.Gray) {
	t.Helper()
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	code := q.Image(300)
	img = image.NewGray(image.Rect(0, 0, 480, 400))
	draw.Draw(img, img.Bounds(), &image.Uniform{color.Gray{Y: 170}}, image.Point{}, draw.Src)
	draw.Draw(img, code.Bounds().Add(image.Pt(120, 60)), code, image.Point{}, draw.Src)
	path = filepath.Join(t.TempDir(), "code.png")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	return path, img
}

// The owner claims the device from a photo of its QR code: the page
// decodes it (the browser's BarcodeDetector, or jsQR where it has none,
// as headless Chromium on Linux), fills the code in, and Claim claims.
// A picture without a code says so.
func TestBrowserClaimByPhoto(t *testing.T) {
	ctx := browser(t)
	r := newClaimRig(t, ctx)

	blank := filepath.Join(t.TempDir(), "blank.png")
	f, _ := os.Create(blank)
	png.Encode(f, image.NewGray(image.Rect(0, 0, 64, 64)))
	f.Close()
	run(t, ctx, chromedp.SetUploadFiles(css("#scan-file"), []string{blank}))
	until(t, ctx, "no code found", `document.getElementById("scan-status").textContent.includes("No QR code")`)

	photo, _ := qrPhoto(t, r.code)
	run(t, ctx, chromedp.SetUploadFiles(css("#scan-file"), []string{photo}))
	until(t, ctx, "the code read from the photo", `document.getElementById("claim-code").value === `+jsq(r.code))
	hasDetector := get(t, ctx, chromedp.Evaluate[bool](`"BarcodeDetector" in window`))
	dec := get(t, ctx, chromedp.Evaluate[string](`document.getElementById("scan").dataset.decoder`))
	if !hasDetector && dec != "jsQR" {
		t.Fatalf("decoded by %q; without a BarcodeDetector it must be jsQR", dec)
	}
	t.Logf("decoded by %s", dec)
	until(t, ctx, "labels on the devices page", labelled)
	shot(t, ctx, "claim-scan-photo")
	r.claimed(t, ctx)
	phone(t, ctx, r.devices, "devices")
}

// The owner claims the device with the camera: Chromium's fake camera
// plays a video of the QR code, the page reads it from the frames.
func TestBrowserClaimByCamera(t *testing.T) {
	dir := t.TempDir()
	y4m := filepath.Join(dir, "qr.y4m")
	ctx := browser(t,
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-video-capture", y4m))
	// The claim code is known only once the device runs: the video file
	// is written before the camera starts (Chromium opens it then).
	r := newClaimRig(t, ctx)
	_, img := qrPhoto(t, r.code)
	writeY4M(t, y4m, img)
	run(t, ctx, chromedp.Click(css("#scan-start")))
	until(t, ctx, "the code read from the camera", `document.getElementById("claim-code").value === `+jsq(r.code))
	until(t, ctx, "the camera stopped", `document.getElementById("scan-video").hidden`)
	shot(t, ctx, "claim-scan-camera")
	r.claimed(t, ctx)
}

// writeY4M writes img as a one-frame YUV4MPEG2 video (grey: U and V at
// 128), what Chromium's fake camera plays in a loop.
func writeY4M(t *testing.T, path string, img *image.Gray) {
	t.Helper()
	b := img.Bounds()
	w, h := b.Dx()&^1, b.Dy()&^1
	out := []byte("YUV4MPEG2 W" + strconv.Itoa(w) + " H" + strconv.Itoa(h) + " F10:1 Ip A1:1 C420jpeg\nFRAME\n")
	for y := range h {
		out = append(out, img.Pix[y*img.Stride:y*img.Stride+w]...)
	}
	for range 2 * (w / 2) * (h / 2) {
		out = append(out, 128)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}
