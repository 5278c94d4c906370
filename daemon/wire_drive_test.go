package daemon

import (
	"reflect"
	"testing"

	"github.com/coconet/coconet/api"
	"github.com/coconet/coconet/drive"
	"github.com/coconet/coconet/drive/drivenode"
)

// TestWireDriveFields: every exported field of a drive struct has its
// namesake in the api type it is converted to, so a field added to drive
// fails here until api carries it. (TestWireJSON's byte-for-byte check
// does not fit: drive writes writer keys as arrays, api as hex.)
func TestWireDriveFields(t *testing.T) {
	for _, c := range []struct{ from, to reflect.Type }{
		{reflect.TypeFor[drive.FileInfo](), reflect.TypeFor[api.DriveFile]()},
		{reflect.TypeFor[drive.Health](), reflect.TypeFor[api.DriveHealth]()},
		{reflect.TypeFor[drive.LogHealth](), reflect.TypeFor[api.DriveLogHealth]()},
		{reflect.TypeFor[drive.PeerState](), reflect.TypeFor[api.DrivePeer]()},
		{reflect.TypeFor[drive.SyncStats](), reflect.TypeFor[api.DrivePeerSync]()},
		{reflect.TypeFor[drivenode.Info](), reflect.TypeFor[api.DriveInfo]()},
	} {
		for i := range c.from.NumField() {
			f := c.from.Field(i)
			if !f.IsExported() {
				continue
			}
			if _, ok := c.to.FieldByName(f.Name); !ok {
				t.Errorf("%s.%s has no field in %s", c.from, f.Name, c.to)
			}
		}
	}
	// The conversions keep what they are given.
	w := drive.WriterID{1, 2}
	f := wireDriveFile(drive.FileInfo{Path: "a", Size: 3, Writer: w, Seq: 4, ConflictOf: "b", Deleted: true})
	if f.Path != "a" || f.Size != 3 || f.Writer != w.String() || f.Seq != 4 || f.ConflictOf != "b" || !f.Deleted {
		t.Errorf("wireDriveFile = %+v", f)
	}
}
