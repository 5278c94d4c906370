// Package folder keeps a local directory and a co-operative drive in two-way sync.
//
// A round compares each file of the folder and of the drive with what the
// last round agreed on (kept in .coco-drive/state.json, so a restart sends
// nothing again): a local change becomes a put, a local delete a remove,
// a remote change or delete is written to the folder, and a file changed
// on both sides keeps both (the local version goes to the drive as a
// Syncthing-style conflict copy). Conflict copies of the drive are plain
// files here; deleting one resolves the conflict. Run watches the folder
// with fsnotify and polls the drive.
package folder
