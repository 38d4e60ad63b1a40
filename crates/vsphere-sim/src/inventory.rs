//! The simulator's small, fixed inventory: one datacenter with a cluster of hosts, a datastore,
//! a network and a handful of VMs, with vCenter-style managed object ids.
//!
//! Events refer to these objects, `RetrievePropertiesEx` lists them and entity filters walk
//! their parent links. At most 64 objects, so an event's entities fit one `u64` bit set.

use vsphere_client::MoRef;

/// What an inventory object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// A folder (`Folder`).
    Folder,
    /// A datacenter (`Datacenter`).
    Datacenter,
    /// A cluster (`ClusterComputeResource`).
    Cluster,
    /// A resource pool (`ResourcePool`).
    ResourcePool,
    /// A host (`HostSystem`).
    Host,
    /// A datastore (`Datastore`).
    Datastore,
    /// A network (`Network`).
    Network,
    /// A virtual machine (`VirtualMachine`).
    Vm,
}

/// One managed entity.
#[derive(Debug, Clone)]
pub struct InventoryObject {
    /// Its reference, e.g. `VirtualMachine:vm-51`.
    pub moref: MoRef,
    /// Its name, e.g. `DC0_C0_RP0_VM0`.
    pub name: String,
    /// What it is.
    pub kind: ObjectKind,
    /// The index of its parent (`None` for the root folder).
    pub parent: Option<usize>,
    /// For a VM: the index of its host.
    pub host: Option<usize>,
    /// For a VM: `poweredOn`, `poweredOff` or `suspended`.
    pub power_state: &'static str,
}

/// The inventory.
#[derive(Debug, Clone)]
pub struct Inventory {
    objects: Vec<InventoryObject>,
}

/// Index of the root folder.
pub const ROOT: usize = 0;
/// Index of the datacenter.
pub const DATACENTER: usize = 1;
/// Index of the cluster.
pub const CLUSTER: usize = 6;
/// Index of the datastore.
pub const DATASTORE: usize = 8;
/// Index of the network.
pub const NETWORK: usize = 9;
const FIRST_HOST: usize = 10;

impl Inventory {
    /// An inventory with `hosts` hosts (1 to 8) and `vms` VMs (1 to 40).
    pub fn new(hosts: usize, vms: usize) -> Self {
        let hosts = hosts.clamp(1, 8);
        let vms = vms.clamp(1, 40);
        let mut objects = Vec::with_capacity(FIRST_HOST + hosts + vms);
        let mut add =
            |kind: ObjectKind, ty: &str, id: String, name: String, parent: Option<usize>| {
                objects.push(InventoryObject {
                    moref: MoRef::new(ty, id),
                    name,
                    kind,
                    parent,
                    host: None,
                    power_state: "",
                });
            };
        add(
            ObjectKind::Folder,
            "Folder",
            "group-d1".into(),
            "Datacenters".into(),
            None,
        );
        add(
            ObjectKind::Datacenter,
            "Datacenter",
            "datacenter-2".into(),
            "DC0".into(),
            Some(ROOT),
        );
        add(
            ObjectKind::Folder,
            "Folder",
            "group-v3".into(),
            "vm".into(),
            Some(DATACENTER),
        );
        add(
            ObjectKind::Folder,
            "Folder",
            "group-h4".into(),
            "host".into(),
            Some(DATACENTER),
        );
        add(
            ObjectKind::Folder,
            "Folder",
            "group-s5".into(),
            "datastore".into(),
            Some(DATACENTER),
        );
        add(
            ObjectKind::Folder,
            "Folder",
            "group-n6".into(),
            "network".into(),
            Some(DATACENTER),
        );
        add(
            ObjectKind::Cluster,
            "ClusterComputeResource",
            "domain-c7".into(),
            "DC0_C0".into(),
            Some(3),
        );
        add(
            ObjectKind::ResourcePool,
            "ResourcePool",
            "resgroup-8".into(),
            "Resources".into(),
            Some(CLUSTER),
        );
        add(
            ObjectKind::Datastore,
            "Datastore",
            "datastore-31".into(),
            "LocalDS_0".into(),
            Some(4),
        );
        add(
            ObjectKind::Network,
            "Network",
            "network-41".into(),
            "VM Network".into(),
            Some(5),
        );
        for h in 0..hosts {
            add(
                ObjectKind::Host,
                "HostSystem",
                format!("host-{}", 21 + h),
                format!("DC0_C0_H{h}"),
                Some(CLUSTER),
            );
        }
        for v in 0..vms {
            add(
                ObjectKind::Vm,
                "VirtualMachine",
                format!("vm-{}", 51 + v),
                format!("DC0_C0_RP0_VM{v}"),
                Some(2),
            );
        }
        for v in 0..vms {
            let o = &mut objects[FIRST_HOST + hosts + v];
            o.host = Some(FIRST_HOST + v % hosts);
            o.power_state = if v % 4 == 3 {
                "poweredOff"
            } else {
                "poweredOn"
            };
        }
        Self { objects }
    }

    /// Every object; the index is its position.
    pub fn objects(&self) -> &[InventoryObject] {
        &self.objects
    }

    /// The object at `index`.
    pub fn get(&self, index: usize) -> Option<&InventoryObject> {
        self.objects.get(index)
    }

    /// The indices of the hosts.
    pub fn hosts(&self) -> impl Iterator<Item = usize> + '_ {
        self.indices_of(ObjectKind::Host)
    }

    /// The indices of the VMs.
    pub fn vms(&self) -> impl Iterator<Item = usize> + '_ {
        self.indices_of(ObjectKind::Vm)
    }

    /// The number of hosts.
    pub fn host_count(&self) -> usize {
        self.hosts().count()
    }

    /// The number of VMs.
    pub fn vm_count(&self) -> usize {
        self.vms().count()
    }

    /// The index of the `n`th host (modulo the host count).
    pub fn host(&self, n: usize) -> usize {
        FIRST_HOST + n % self.host_count().max(1)
    }

    /// The index of the `n`th VM (modulo the VM count).
    pub fn vm(&self, n: usize) -> usize {
        FIRST_HOST + self.host_count() + n % self.vm_count().max(1)
    }

    fn indices_of(&self, kind: ObjectKind) -> impl Iterator<Item = usize> + '_ {
        self.objects
            .iter()
            .enumerate()
            .filter(move |(_, o)| o.kind == kind)
            .map(|(i, _)| i)
    }

    /// Find an object by reference (type and id).
    pub fn find(&self, moref: &MoRef) -> Option<usize> {
        self.objects.iter().position(|o| {
            o.moref.value == moref.value && (moref.kind.is_empty() || o.moref.kind == moref.kind)
        })
    }

    /// Find an object by id alone.
    pub fn find_id(&self, id: &str) -> Option<usize> {
        self.objects.iter().position(|o| o.moref.value == id)
    }

    /// Whether `index` is `ancestor` or below it.
    pub fn is_descendant(&self, mut index: usize, ancestor: usize) -> bool {
        loop {
            if index == ancestor {
                return true;
            }
            match self.objects.get(index).and_then(|o| o.parent) {
                Some(p) => index = p,
                None => return false,
            }
        }
    }

    /// The bit set of objects an entity filter on `entity` with `recursion` (`self`,
    /// `children` or `all`) selects.
    pub fn filter_mask(&self, entity: usize, recursion: &str) -> u64 {
        let mut mask = 0u64;
        for (i, o) in self.objects.iter().enumerate() {
            let hit = match recursion {
                "self" => i == entity,
                "children" => i == entity || o.parent == Some(entity),
                _ => self.is_descendant(i, entity),
            };
            if hit {
                mask |= 1 << i;
            }
        }
        mask
    }

    /// The bit of one object.
    pub fn bit(index: usize) -> u64 {
        if index < 64 { 1 << index } else { 0 }
    }
}

impl Default for Inventory {
    fn default() -> Self {
        Self::new(3, 8)
    }
}
