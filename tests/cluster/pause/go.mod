// The sandbox ("pause") image's one binary, for the test cluster's containerd (nothing is pulled).
// Test harness only: the product is Python.
module reflexdb.cloud/pause

go 1.26.0
