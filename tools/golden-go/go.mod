module github.com/vmware-sources/vmware-sources/tools/golden-go

go 1.21

require github.com/vmware/govmomi v0.24.1-0.20210127152625-854ba4efe87e
